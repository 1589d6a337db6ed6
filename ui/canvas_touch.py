"""Let a finger draw on the whole canvas: a fix for streamlit-drawable-canvas's toolbar.

The canvas component (0.13) keeps its toolbar (undo, redo, reset) invisible over the top-right
corner of the canvas and slides it up above the canvas on hover. A finger never hovers, so on
a tablet the invisible toolbar swallowed every stroke that started in that corner (about
140 x 30 px). The component lives in a shadow root, out of reach of the page's CSS; this
script-only component puts one rule into that shadow root: while the toolbar is hidden it lets
touches and clicks through to the canvas. On hover (a mouse, or a tap) it works as before.
"""

from __future__ import annotations

import json

import streamlit as st

_RULE = (
    ".dc-root:not(:hover) > .dc-toolbar:not([data-pinned=true]):not(:focus-within), "
    ".dc-root:not(:hover) > .dc-toolbar:not([data-pinned=true]):not(:focus-within) * "
    "{ pointer-events: none; }"
)

_JS = """
export default function () {
  if (window.__fpeCanvasTouch) return;  // one watcher per page, whatever the reruns
  window.__fpeCanvasTouch = true;
  const RULE = __RULE__;
  const watched = new WeakSet();
  const patch = () => {
    for (const host of document.querySelectorAll("[data-testid=stBidiComponentIsolated]")) {
      const root = host.shadowRoot;
      if (root && !watched.has(root)) {  // a shadow root's own changes reach only its observers
        watched.add(root);
        new MutationObserver(patch).observe(root, {childList: true, subtree: true});
      }
      if (root && root.querySelector(".dc-root") && !root.querySelector("style[data-fpe]")) {
        const style = document.createElement("style");
        style.dataset.fpe = "canvas-touch";
        style.textContent = RULE;
        root.appendChild(style);
      }
    }
  };
  patch();
  new MutationObserver(patch).observe(document.body, {childList: true, subtree: true});
}
""".replace("__RULE__", json.dumps(_RULE))

_mount = st.components.v2.component("fpe_canvas_touch", js=_JS)


def allow_touch_everywhere() -> None:
    """Mount once on a page that shows the drawing canvas."""
    _mount(key="fpe_canvas_touch")
