"""The ad catalog and creative generators (template by default)."""

from alpharl.creatives.catalog import (
    CREATIVE_FIELDS,
    DEFAULT_CATALOG,
    CatalogError,
    catalog_from_dicts,
    catalog_to_dicts,
    default_catalog,
    load_catalog,
    load_catalog_file,
)
from alpharl.creatives.template import CreativeGenerator, TemplateCreativeGenerator

__all__ = [
    "CREATIVE_FIELDS",
    "DEFAULT_CATALOG",
    "CatalogError",
    "CreativeGenerator",
    "TemplateCreativeGenerator",
    "catalog_from_dicts",
    "catalog_to_dicts",
    "default_catalog",
    "load_catalog",
    "load_catalog_file",
]
