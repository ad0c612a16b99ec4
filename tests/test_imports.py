import subprocess
import sys

from conftest import ROOT


def test_import_touches_no_cuda_and_no_gradio() -> None:
    code = (
        "import sys, studio, models, memory\n"
        "import studio.tasks, studio.presets, studio.runner, studio.video_io\n"
        "assert 'gradio' not in sys.modules, 'studio import must not pull in gradio'\n"
        "torch = sys.modules.get('torch')\n"
        "assert torch is None or not torch.cuda.is_initialized()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
