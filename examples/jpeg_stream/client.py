"""Stream a video through jpg_model: ``python examples/jpeg_stream/client.py --help``."""

from tritonlite.client.video import main

if __name__ == "__main__":
    raise SystemExit(main())
