"""Everything that turns data into text for people: the terminal renderer, HTML, JSON, i18n."""
