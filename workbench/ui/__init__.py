"""The Streamlit front end: pages arrange widgets and call the library, nothing more."""
