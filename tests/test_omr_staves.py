import numpy as np

from deepwild.tasks.omr.postprocess import RawDetection, find_staves, outside_staves


def _page_with_staves(tops: list[int], space: int = 10, left: int = 40, right: int = 560) -> np.ndarray:
    gray = np.ones((400, 600), np.float32)
    for top in tops:
        for line in range(5):
            gray[top + line * space, left:right] = 0.0
    gray[30, 100:180] = 0.0  # a beam-like short line: not a staff line
    gray[200:260, 300:303] = 0.0  # a stem
    return gray


def test_five_evenly_spaced_long_lines_make_a_staff():
    staves = find_staves(_page_with_staves([60, 220]), staff_space=10.0)
    assert [(s.top, s.bottom) for s in staves] == [(60.0, 100.0), (220.0, 260.0)]
    assert staves[0].left == 40 and staves[0].right == 560


def test_lines_at_another_spacing_are_not_a_staff():
    assert find_staves(_page_with_staves([60]), staff_space=16.0) == []


def test_only_ledger_lines_inside_a_staff_are_dropped():
    staves = find_staves(_page_with_staves([60]), staff_space=10.0)
    ledger = np.array([False, True])

    def at(cls: int, cy: float) -> RawDetection:
        return RawDetection(cls, (200.0, cy - 1, 220.0, cy + 1), 0.9)

    found = [at(1, 80.0),  # on the middle staff line: a staff line through a notehead
             at(1, 50.0),  # a staff space above the staff: a ledger line
             at(1, 110.0),  # below it
             at(0, 80.0)]  # another class inside the staff is kept
    kept = outside_staves(found, staves, 10.0, ledger)
    assert [(d.class_index, (d.box[1] + d.box[3]) / 2) for d in kept] == [(1, 50.0), (1, 110.0), (0, 80.0)]
