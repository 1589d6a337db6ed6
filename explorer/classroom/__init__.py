"""A teacher-led class: the shared database, who leads, the view followers mirror, questions
put to the class and their answers. No Streamlit here; ``ui/classroom.py`` presents it."""
