"""The render-buffer tuning takes effect on this (glibc) machine."""

from workers.memory import keep_render_buffers


def test_keep_render_buffers_is_accepted_by_glibc():
    assert keep_render_buffers() is True
