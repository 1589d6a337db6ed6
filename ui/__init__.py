"""Streamlit widgets shared by several pages (the library itself lives in ``explorer``)."""
