"""The one way the UI reports a user's mistake: a gr.Error with the field in its title, and no
traceback in the server's terminal (a wrong value is not a bug; real bugs keep theirs)."""
from __future__ import annotations

import gradio as gr

from core.errors import InputError


def user_error(message: str, field: str | None = None) -> gr.Error:
    return gr.Error(message, title=f"Check '{field}'" if field else "Error", print_exception=False)


def refused(err: InputError) -> gr.Error:
    return user_error(str(err), err.field)
