"""The core's advice in the app's words: a message that tells a command-line user to run a
verb or pass an option tells an app user where to click instead.

The core writes advice through `errors.advise`, so each piece is found here by its template;
job errors and notes stored in the database are reworded when shown, the same way.
"""

from __future__ import annotations

from functools import cache

from refldm_desktop.errors import Advice, rewording

# Menu paths as the menus write them (mainwindow.actions, people_actions, sidebar).
MODELS = "Tools › Models…"
SETTINGS = "Tools › Settings…"
CHECK_LIBRARY = "Tools › Check Library…"

APP_WORDS: dict[Advice, str] = {
    Advice.RUN_AGAIN: "try again",
    Advice.RUN_THIS_AGAIN: "try again",
    Advice.THEN_RUN_AGAIN: "then try again",
    Advice.INDEX_FOLDER: "rescan its folder (right-click the folder in the sidebar, then Rescan Folder)",
    Advice.INSTALL_WEIGHTS: f"install the ReF-LDM weights in {MODELS}, or import downloaded files there",
    Advice.INSTALL_MODEL: f"install it in {MODELS}",
    Advice.RESTORE_AGAIN: "right-click the photo and restore it again",
    Advice.NO_REFS_OK: (
        "allow reference-free restoration: Restore with Options…, "
        "Also restore faces that have no references"
    ),
    Advice.NO_REFS_RESTORES: "Also restore faces without a person or reference photos restores it",
    Advice.SMALLER_UPSCALE: "choose less under Enlarge first in Restore with Options…",
    Advice.FIX_SETTINGS: f"fix it in {SETTINGS}",
    Advice.CONFIRM_FACE: "Show Faces, then click its box and name it",
    Advice.RESET_REFS: "right-click the face on its person's page, then Forget pin or exclusion",
    Advice.INSIDE_LIBRARY: f"choose an output folder outside your photo folders in {SETTINGS}",
    Advice.DEVICE_CUDA: f"the CUDA device was chosen in {SETTINGS}",
    Advice.DB_CHECK: f"open {CHECK_LIBRARY} to see what is wrong and go back to the newest whole backup",
    Advice.DB_CHECK_INTACT: f"{CHECK_LIBRARY} tells whether the library is intact",
    # The Models dialog has no "replace": the old model is removed there first.
    Advice.REPLACE_MODEL: f"remove it first in {MODELS}, or give another name there",
}


@cache
def _in_app_words():
    # Built at the first message shown, not at import: the window appears first.
    return rewording(APP_WORDS)


def for_app(text: str | None) -> str:
    """`text` with its command-line advice said as what to do in the app."""
    return _in_app_words()(text) if text else ""


def damage_advised(text: str, *, or_doubt: bool = False) -> bool:
    """Whether `text` says the library's database is damaged (it then gives the way back, in
    the command line's words or the app's): the app offers Check Library with it. With
    `or_doubt`, also when it only advises checking whether the library is whole."""
    kinds = (Advice.DB_CHECK, Advice.DB_CHECK_INTACT) if or_doubt else (Advice.DB_CHECK,)
    return any(APP_WORDS[k] in text or k.pattern().search(text) is not None for k in kinds)

