"""Catalog: areas (national administrative units) and report categories (CRM-20…29)."""
