"""Master data: provinces, schools (MOET codes), classes, students (12-digit personal id), teachers, imports."""
