"""English shares the zh_Hans formats: YYYY-MM-DD everywhere (see crm_site/formats/zh_Hans)."""

from crm_site.formats.zh_Hans.formats import *  # noqa: F403 - one set of formats for both
