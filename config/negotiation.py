"""Content negotiation that never 406s: JSON bodies are always JSON, and image routes
return their bytes as plain HttpResponses, chosen by the view from the Accept header."""

from rest_framework.negotiation import BaseContentNegotiation


class JsonOrBytesNegotiation(BaseContentNegotiation):
    def select_parser(self, request, parsers):
        for parser in parsers:
            if parser.media_type in (request.content_type or ""):
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type
