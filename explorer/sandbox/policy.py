"""The opt-in switch: students' code runs only if the person starting the server asked for it.

Two ways to switch it on, both explicit:

* the environment variable ``FPE_ALLOW_CODE=1`` (also ``true``, ``yes``, ``on``), e.g.
  ``FPE_ALLOW_CODE=1 streamlit run app.py``;
* the script argument ``--allow-code`` after Streamlit's ``--``:
  ``streamlit run app.py -- --allow-code``.

Anything else -- unset, ``0``, an empty string, a typo -- leaves it off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

ENV_VAR = "FPE_ALLOW_CODE"
CLI_FLAG = "--allow-code"
_YES = {"1", "true", "yes", "on"}

HOW_TO_ENABLE = (
    "Running your own code is switched off on this server. Code typed here runs on the "
    "server, so the person who starts it has to allow it explicitly, and should do so only "
    "for a class they trust or on a machine set aside for it. To allow it, start the app with\n\n"
    f"    {ENV_VAR}=1 streamlit run app.py\n\n"
    "or\n\n"
    f"    streamlit run app.py -- {CLI_FLAG}\n\n"
    "Even then each run happens in a separate, short-lived worker process with limits on time "
    "and memory."
)


def code_allowed(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """True only if the server was started with ``FPE_ALLOW_CODE=1`` or ``-- --allow-code``.

    Args:
        argv: the command line, like ``sys.argv``; ``None`` reads ``sys.argv`` (under
            ``streamlit run app.py -- --allow-code`` that is ``["app.py", "--allow-code"]``).
        environ: the environment; ``None`` reads ``os.environ``.
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR, "").strip().lower() in _YES:
        return True
    args = sys.argv if argv is None else argv
    return CLI_FLAG in args
