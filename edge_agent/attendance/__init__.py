"""The attendance rules: timetable, lessons, the camera's proposals and the teacher's actions on the kiosk."""
