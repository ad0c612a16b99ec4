"""Frame In/Out tab and `/frame_inout`: expand the canvas, click trajectories, give an identity."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np

from studio.env import StudioEnv
from studio.events import PartialVideo, Preview, Progress, Result
from studio.fields import defaults
from studio.tasks import all_tasks
from studio.tasks.frame_inout import PRESET, FrameInOutRequest
from studio.ui import trajectory_editor as ed
from studio.ui.fields import Controls, settings_loader
from studio.ui.jobs import JobControl, job_events
from studio.ui.progress import Clock, bar_html, plan_markdown
from studio.ui.registry import TabHandle
from studio.validation import as_image

# gradio's static Image maps a click to image pixels assuming the picture is never shown larger than
# its own size (its scale is capped at 1), so clicks on an enlarged small canvas fall outside and
# are dropped. The editor therefore shows the canvas at least this wide and maps clicks back.
EDITOR_WIDTH = 960


def _editor_scale(canvas_width: int) -> float:
    return max(1.0, EDITOR_WIDTH / canvas_width)


def _canvas_view(image: Any, top: float, bottom: float, left: float, right: float, unit: str,
                 state: ed.State) -> np.ndarray | None:
    """The canvas as the editor shows it: the image on the expanded canvas, the added border shown
    distinctly, every object's lines drawn in its colour with start and end marked (drawn at the
    editor's scale, so lines stay sharp)."""
    import cv2

    from models.frameino import geometry

    try:
        array = as_image("image", image, required=False)
    except Exception:
        return None
    if array is None:
        return None
    layout = geometry.canvas_layout(array.shape[1], array.shape[0],
                                    geometry.Expansion(top or 0, bottom or 0, left or 0, right or 0, unit))
    canvas, region = geometry.make_canvas(array, layout)
    k = _editor_scale(layout.width)
    view = geometry.editing_view(canvas, region)
    if k > 1:
        view = cv2.resize(view, (round(layout.width * k), round(layout.height * k)), interpolation=cv2.INTER_LINEAR)
    points = geometry.scale_trajectories([[line for line in obj] for obj in state["objects"]], (k, k))
    return geometry.draw_editor(view, points, tuple(state["current"]))


def _canvas_width(image: Any, left: float, right: float, unit: str) -> int:
    from models.frameino import geometry

    array = as_image("image", image, required=True)
    return geometry.canvas_layout(array.shape[1], array.shape[0],
                                  geometry.Expansion(0, 0, left or 0, right or 0, unit)).width


def _cutout(identity: Any, mask: Any, method: str, box: str) -> np.ndarray | None:
    from models.frameino.segment import checkerboard_preview, cut_out
    from studio.tasks.frame_inout import _box

    try:
        image = as_image("identity_image", identity, required=False, keep_alpha=True)
        if image is None:
            return None
        cutout, _ = cut_out(image, method=method, box=_box(box), mask=as_image("identity_mask", mask, required=False))
        return checkerboard_preview(cutout)
    except Exception as err:  # shown as a message; the job's own check names the field
        gr.Warning(str(err))
        return None


def build(env: StudioEnv, control: JobControl) -> TabHandle:
    spec = all_tasks()["frame_inout"]
    c = Controls(FrameInOutRequest, defaults(FrameInOutRequest, env.preset_for(PRESET).defaults))
    with gr.Tab("Frame In/Out", id="frame_inout"):
        gr.Markdown("Place the image on a larger canvas, click the paths objects take (they may start or end "
                    "outside the image), give what enters an identity: FrameINO makes them enter or leave the "
                    "frame. The preview moves the cut-out along the paths within seconds."
                    + (" **Tiny random weights: the model's videos are noise** (the preview is real)."
                       if env.tiny else ""))
        state = gr.State(ed.new_state())
        with gr.Row():
            with gr.Column():
                image = c("image", height=200, elem_id="fio-image")
                with gr.Row():
                    sides = [c(name) for name in ("expand_top", "expand_bottom", "expand_left", "expand_right")]
                unit = c("expand_unit")
                from models.frameino.geometry import EXPANSION_PRESETS, Expansion

                choices = {**EXPANSION_PRESETS, "no expansion": Expansion()}
                with gr.Row():
                    presets = {name: gr.Button(name.capitalize(), size="sm") for name in choices}
                editor = gr.Image(label="Canvas: click to add points (grey = outside the image)", interactive=False,
                                  elem_id="fio-canvas", type="numpy", height=360)
                with gr.Row():
                    new_object = gr.Button("New object", size="sm", elem_id="fio-new-object")
                    new_line = gr.Button("New line", size="sm", elem_id="fio-new-line")
                    undo = gr.Button("Undo point", size="sm", elem_id="fio-undo")
                    clear_line = gr.Button("Clear line", size="sm")
                    clear_all = gr.Button("Clear all", size="sm", elem_id="fio-clear")
                where = gr.Markdown(ed.describe(ed.new_state()), elem_id="fio-where")
                with gr.Accordion("Trajectories as JSON", open=False):
                    trajectories = c("trajectories", elem_id="fio-json")
                with gr.Row():
                    identity = c("identity_image", height=160)
                    cutout = gr.Image(label="Cut-out (what the model gets)", interactive=False, height=160)
                with gr.Row():
                    mask = c("identity_mask", height=120)
                    segmentation = c("segmentation")
                box = c("identity_box")
                c("prompt")
                c("negative_prompt")
                with gr.Row():
                    start = gr.Button("Generate", variant="primary", elem_id="fio-generate")
                    stop = gr.Button("Stop", elem_id="fio-stop")
                frames = c("frames")
                with gr.Accordion("Advanced", open=False):
                    for name in ("steps", "guidance", "shift", "seed", "mp4_crf"):
                        c(name)
                    fp8 = c("fp8_transformer")
                with gr.Accordion("Memory plan", open=False):
                    plan = gr.Markdown(_plan(env, None, False))
            with gr.Column():
                preview = gr.Image(label="Preview" + (" (noise: tiny weights)" if env.tiny else ""),
                                   interactive=False, height=200)
                status = gr.Markdown(elem_id="fio-status")
                bar = gr.HTML()
                moved = gr.Video(label="Instant preview: the identity along the paths (timing only, not the model)",
                                 interactive=False, elem_id="fio-preview")
                full = gr.Video(label="Full canvas", interactive=False, elem_id="fio-full")
                result = gr.Video(label="Video (original framing)", autoplay=True, interactive=False,
                                  elem_id="fio-result")
        assert not c.missing(), f"frame in/out layout misses {c.missing()}"

        view_inputs = [image, *sides, unit, state]

        def redraw(*values: Any) -> tuple[Any, str, str]:
            s = values[-1]
            return _canvas_view(*values), ed.describe(s), ed.to_json(s)

        # gradio hands event data only to positional parameters: spell them out.
        def click(image: Any, top: float, bottom: float, left: float, right: float, unit: str, current: ed.State,
                  evt: gr.SelectData) -> tuple[Any, ...]:
            k = _editor_scale(_canvas_width(image, left, right, unit))
            x, y = evt.index[:2]
            s = ed.add_point(current, x / k, y / k)
            return (s, *redraw(image, top, bottom, left, right, unit, s))

        def edit(op: Any):
            def apply(*values: Any) -> tuple[Any, ...]:
                s = op(values[-1])
                return (s, *redraw(*values[:-1], s))
            return apply

        outputs = [state, editor, where, trajectories]
        # The editor redraws in milliseconds: no progress overlay, which would also swallow the next click.
        quiet = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
        editor.select(click, view_inputs, outputs, **quiet)
        for button, op in ((new_object, ed.new_object), (new_line, ed.new_line), (undo, ed.undo_point),
                           (clear_line, ed.clear_line), (clear_all, ed.clear_all)):
            button.click(edit(op), view_inputs, outputs, **quiet)
        for source in (image, *sides, unit):
            source.change(lambda *v: redraw(*v)[0], view_inputs, editor, **quiet)
        trajectories.input(lambda text, *v: (ed.from_json(text), *redraw(*v[:-1], ed.from_json(text))),
                           [trajectories, *view_inputs], outputs, **quiet)
        for name, e in choices.items():
            presets[name].click(lambda e=e: (e.top, e.bottom, e.left, e.right, e.unit), None, [*sides, unit], **quiet)
        for source in (identity, mask, segmentation, box):
            source.change(_cutout, [identity, mask, segmentation, box], cutout, api_visibility="private")

        def frame_inout(request: gr.Request, **values: Any) -> Iterator[tuple[Any, ...]]:
            clock = Clock()
            skip = gr.skip()
            files: dict[str, str] = {}
            for event in job_events(spec, lambda: FrameInOutRequest(**values), env, control, request):
                if isinstance(event, Progress):
                    yield skip, clock.text(event), bar_html(event.step, event.total), skip, skip, skip
                elif isinstance(event, Preview):
                    yield event.image, skip, skip, skip, skip, skip
                elif isinstance(event, PartialVideo):
                    key = "preview" if Path(event.path).name == "preview.mp4" else "full"
                    files[key] = str(event.path)
                    yield skip, event.desc, skip, files.get("preview", skip), files.get("full", skip), skip
                elif isinstance(event, Result):
                    meta = event.metadata
                    note = " (tiny random weights: noise)" if env.tiny else ""
                    yield (skip, f"Done: {meta['frames']} frames at {meta['fps']:g} fps{note} · job "
                           f"`{Path(event.video).parent.name}`", bar_html(1, 1), files.get("preview"),
                           files.get("full"), str(event.video))

        fn, inputs = c.endpoint(frame_inout)
        start.click(fn, inputs_kwargs=inputs, outputs=[preview, status, bar, moved, full, result],
                    api_name="frame_inout", concurrency_limit=None, show_progress="hidden")  # followers: the job manager queues
        stop.click(control.stop_handler("frame_inout"), None, None, api_name="stop_frame_inout",
                   concurrency_limit=None, show_progress="hidden")
        for control_input in (frames, fp8):
            control_input.change(lambda f, q: _plan(env, f, q), [frames, fp8], plan, api_visibility="private")

    return TabHandle("frame_inout", "Frame In/Out", "frame_inout", list(c.api().values()), settings_loader(c))


def _plan(env: StudioEnv, frames: float | None, fp8: bool) -> str:
    d = env.preset_for(PRESET).defaults
    return plan_markdown(env, PRESET, int(d.get("width", 1280)), int(d.get("height", 704)),
                         frames=int(frames or d.get("frames", 81)), fp8=fp8)
