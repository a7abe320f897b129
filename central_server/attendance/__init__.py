"""Attendance: marks from the schools (current state + full history), the absence engine (buổi), reports."""
