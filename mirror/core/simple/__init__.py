"""The Simple Repository API: parsing upstream pages, content negotiation, rendering (all pure)."""
