"""Page of the scorecard area (its owner replaces this line with the page)."""
import streamlit as st

from pages import _shared as sh

st.title(sh.t("nav.scorecard"))
