from processing.activity import LYING, SITTING, STANDING, UNKNOWN, WALKING
from processing.bouts import BoutTracker


def feed(tracker, sequence):
    """sequence: list of (activity, seconds); returns completed bouts."""
    t = 0.0
    done = []
    for activity, seconds in sequence:
        for _ in range(seconds):
            bout = tracker.update(t, activity)
            if bout:
                done.append(bout)
            t += 1.0
    last = tracker.finish()
    if last:
        done.append(last)
    return done


def test_a_long_sit_with_a_brief_stand_is_one_bout_with_a_short_break():
    bouts = feed(BoutTracker(), [(STANDING, 10), (SITTING, 600), (STANDING, 30), (SITTING, 300), (WALKING, 120)])
    assert len(bouts) == 1
    assert bouts[0].start_s == 10.0
    assert bouts[0].end_s == 940.0
    assert bouts[0].sitting_s == 900.0
    assert bouts[0].breaks == 1


def test_a_break_of_a_minute_ends_the_bout_at_the_break_start():
    bouts = feed(BoutTracker(), [(SITTING, 120), (WALKING, 60), (SITTING, 90)])
    assert [(b.start_s, b.end_s) for b in bouts] == [(0.0, 120.0), (180.0, 270.0)]


def test_bouts_shorter_than_a_minute_are_not_reported():
    assert feed(BoutTracker(), [(SITTING, 30), (STANDING, 90), (SITTING, 59), (STANDING, 61)]) == []


def test_unknown_and_lying_epochs_neither_extend_nor_break_a_bout():
    bouts = feed(BoutTracker(), [(SITTING, 100), (UNKNOWN, 300), (LYING, 100), (SITTING, 100), (STANDING, 60)])
    assert len(bouts) == 1
    assert bouts[0].start_s == 0.0 and bouts[0].end_s == 600.0
    assert bouts[0].sitting_s == 200.0
