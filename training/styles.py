"""Style tags: a sample labelled with a style is trained with the tag in its system prompt, and the server
adds the same tag for a request asking for that style (unless the style maps to its own adapter)."""


def styled_system_prompt(system_prompt: str, style: str | None) -> str:
    return f"{system_prompt}\n\nStyle: {style}" if style else system_prompt
