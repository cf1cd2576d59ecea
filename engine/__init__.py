"""latewatch engine: event-time windows, watermarks, versions and tiers, without Streamlit."""

__version__ = "0.1.0"
