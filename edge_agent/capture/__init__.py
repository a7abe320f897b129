"""Frame sources: cameras (USB, RTSP/HTTP, files) read in threads, a file reader for `recognize`, the CPU budget."""
