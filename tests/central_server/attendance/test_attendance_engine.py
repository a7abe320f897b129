"""The absence engine (pure rules): periods → buổi, warning levels, the over-45 flag (T-1)."""

from __future__ import annotations

from central_server.attendance.engine import derive_session, not_eligible, session_of, warning_level


def test_session_absent_only_when_every_marked_period_missed():
    assert derive_session([(1, "P", True), (2, "P", True), (3, "K", True)]) == ("K", True)
    assert derive_session([(1, "P", True), (2, "P", False)]) == ("P", False)
    assert derive_session([(1, "P", True), (2, "present", True)]) == ("partial", True)
    assert derive_session([(1, "present", True), (2, "late", True)]) == ("present", True)
    assert derive_session([(0, "K", True)]) == ("K", True)
    assert derive_session([]) == ("unconfirmed", False)


def test_camera_absence_proposal_is_never_an_absence():
    assert derive_session([(1, "absent_proposed", False), (2, "absent_proposed", False)]) == ("unconfirmed", False)


def test_configurable_fraction():
    marks = [(1, "K", True), (2, "K", True), (3, "present", True)]
    assert derive_session(marks, 1.0)[0] == "partial"
    assert derive_session(marks, 0.6)[0] == "K"


def test_session_of_period_numbers():
    assert session_of(3, None, 5) == ("morning", 3)
    assert session_of(6, None, 5) == ("afternoon", 6)
    assert session_of(None, None, 5) == ("day", 0)
    assert session_of(None, "afternoon", 5) == ("afternoon", 0)


def test_levels_and_flag():
    assert warning_level(29, [30, 40]) is None
    assert warning_level(30, [30, 40]) == 30
    assert warning_level(44, [30, 40]) == 40
    assert not not_eligible(45) and not_eligible(46)
