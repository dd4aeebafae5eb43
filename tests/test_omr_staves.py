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


def test_whole_and_half_rests_are_named_by_the_staff_line_they_touch():
    from deepwild.tasks.omr.postprocess import rests_by_staff_line

    staves = find_staves(_page_with_staves([60]), staff_space=10.0)  # lines at 60, 70, 80, 90, 100
    whole, half, other = 3, 4, 0

    def bar(cls: int, top: float) -> RawDetection:  # a rest's bar, 5 px tall
        return RawDetection(cls, (200.0, top, 212.0, top + 5.0), 0.8)

    found = [bar(half, 70.0),  # hangs from the line at 70 (centre 72.5 below it): a whole rest
             bar(whole, 75.0),  # sits on the line at 80 (centre 77.5 above it): a half rest
             bar(whole, 200.0),  # far from every staff: the class map's vote stands
             bar(other, 70.0)]  # other classes are left alone
    named = rests_by_staff_line(found, staves, 10.0, whole, half)
    assert [d.class_index for d in named] == [whole, half, whole, other]
    assert [d.box for d in named] == [d.box for d in found]


def test_staff_space_of_perfectly_regular_lines_is_measured_not_a_crash():
    from deepwild.tasks.omr.postprocess import estimate_staff_space

    # Every period the same: the mode is the histogram's last bin, and the window around it must stay inside.
    page = np.ones((120, 300), np.float32)
    for staff in (10, 70):
        page[staff:staff + 41:10, 5:295] = 0.0
    assert estimate_staff_space(page) == 10.0
