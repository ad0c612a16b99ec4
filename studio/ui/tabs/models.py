"""Models tab: every preset, its files, size, licence, where it was found and its state (and,
under --tiny, each tiny twin: random weights, where they are built)."""
from __future__ import annotations

import gradio as gr

from core.errors import StudioError
from studio.downloads import download_preset, downloads_off_reason
from studio.env import StudioEnv
from studio.models_status import preset_rows
from studio.ui.errors import user_error
from studio.ui.registry import TabHandle

COLUMNS = ["preset", "state", "size (GB)", "found in", "VRAM", "licence", "repos"]


def _table(env: StudioEnv) -> list[list]:
    return [[r["preset"], r["state"], r["size_gb"], r["where"] or "-", r["vram"], r["licence"], r["repos"]]
            for r in preset_rows(env)]


def _gb(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _details(env: StudioEnv, preset_id: str | None) -> str:
    rows = {r["preset"]: r for r in preset_rows(env)}
    row = rows.get(preset_id or "")
    if row is None:
        return "Pick a preset."
    lines = [f"### {row['title']}", f"State: **{row['state']}** · {row['size_gb']} GB · licence: {row['licence']}", ""]
    if row["tiny_of"]:
        lines += [f"Tiny twin of `{row['tiny_of']}`: the same classes with **random weights** (its videos are "
                  f"noise), built on this machine on first use in `{row['where']}`. Nothing is downloaded.", ""]
    lines += ["| component | repo / subfolder | GB | state | found in |", "|---|---|---|---|---|"]
    for c in row["components"]:
        where = f"{c['repo']}/{c['subfolder']}".rstrip("/")
        lines.append(f"| {c['name']} | `{where}` | {_gb(c['size_gb'])} | {c['state']} | {c['where'] or '-'} |")
    if row["state"] != "ready" and not row["tiny_of"]:
        status = env.resolver.status(preset_id)
        lines += ["", "```", status.missing_message(), "```"]
    return "\n".join(lines)


def build(env: StudioEnv) -> TabHandle:
    off = downloads_off_reason(env)
    with gr.Tab("Models", id="models"):
        gr.Markdown("Weights are looked up in `--models-dir` and the Hugging Face cache "
                    "(`HF_HOME`, `HF_HUB_OFFLINE` honoured). Nothing is fetched unless you press Download."
                    + (" With `--tiny` each preset's tiny twin (random weights) is listed after it." if env.tiny
                       else ""))
        table = gr.Dataframe(value=_table(env), headers=COLUMNS, interactive=False, label="Presets")
        ids = [r["preset"] for r in preset_rows(env)]
        with gr.Row():
            choice = gr.Dropdown(ids, value=ids[0] if ids else None, label="Preset")
            refresh = gr.Button("Refresh")
            download = gr.Button("Download", variant="primary", interactive=off is None)
            if off:  # a greyed-out button says nothing by itself
                gr.Markdown(f"_Download is disabled: {off}._")
        details = gr.Markdown(_details(env, ids[0] if ids else None))

        def do_download(preset_id: str, progress: gr.Progress = gr.Progress(track_tqdm=True)):
            try:
                download_preset(env, preset_id, log=lambda msg: gr.Info(msg))
            except StudioError as err:
                raise user_error(str(err)) from None
            return _table(env), _details(env, preset_id)

        choice.change(lambda p: _details(env, p), choice, details, api_visibility="private")
        refresh.click(lambda p: (_table(env), _details(env, p)), choice, [table, details], api_name="models_refresh")
        download.click(do_download, choice, [table, details], api_name="download_preset")
    return TabHandle("models", "Models")
