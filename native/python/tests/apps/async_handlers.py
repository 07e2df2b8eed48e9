"""An async handler, which tandem refuses at setup."""


async def handler(request):
    return {"async": True}
