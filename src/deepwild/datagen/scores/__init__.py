"""DeepScores-style pages from the music21 corpus, engraved by verovio and rasterised by resvg."""
