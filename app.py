"""TensorRT Workbench in the browser: ``streamlit run app.py`` (or ``trt-workbench ui``)."""

from workbench.ui.app_main import main

main()
