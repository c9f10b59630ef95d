"""The replay side of every protocol (detector files → a stream, as a detector sends them) and the
synthetic growth series of the demo and the tests."""
