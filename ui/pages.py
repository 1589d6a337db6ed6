"""Every page of the app, once: app.py routes with it and Home shows a card for each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str  # the file in views/
    title: str
    icon: str
    url_path: str | None  # None: the default page, "/"
    blurb: str  # one line for Home's card ("" : no card)


PAGES = (
    PageInfo("views/home.py", "Home", ":material/home:", None, ""),
    PageInfo(
        "views/draw.py",
        "Draw",
        ":material/draw:",
        "draw",
        "Draw a digit; watch it become a 28×28 input and the prediction change after every stroke.",
    ),
    PageInfo(
        "views/forward.py",
        "Forward pass",
        ":material/step:",
        "forward",
        "Step through forward() op by op: the line that ran, its numbers, heatmaps before "
        "and after, train vs eval — or predict each step first.",
    ),
    PageInfo(
        "views/backward.py",
        "Backward pass",
        ":material/undo:",
        "backward",
        "Run loss.backward(): the gradient at every step and every weight; take an SGD step.",
    ),
    PageInfo(
        "views/build.py",
        "Build",
        ":material/construction:",
        "build",
        "Stack layers, see every shape, get the PyTorch code, train it, save it for the class.",
    ),
    PageInfo(
        "views/code.py",
        "Your code",
        ":material/code:",
        "code",
        "Write your own forward() and watch it run (when the teacher's server allows it).",
    ),
    PageInfo(
        "views/teach.py",
        "Teach",
        ":material/school:",
        "teach",
        "For the teacher: start a class the students follow, put a question to the room, "
        "see the answers come in.",
    ),
)
