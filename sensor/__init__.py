"""Where samples come from: recordings, the simulator, replay pacing and (later) Bluetooth LE sensors."""
