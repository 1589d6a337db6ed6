"""The floor for bench.follow_load's class-link figure: a bare Streamlit page with one plotly
chart (a 28x28 heatmap, like a /forward step's smallest figure) and nothing else.

    streamlit run bench/plot_floor.py
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="Plot floor", layout="wide")
z = np.random.default_rng(0).standard_normal((28, 28)).astype(np.float32)
st.plotly_chart(go.Figure(go.Heatmap(z=z)), key="floor_chart")
