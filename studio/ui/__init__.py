"""Gradio front end. Imported only when the app is built (gradio is heavy)."""
