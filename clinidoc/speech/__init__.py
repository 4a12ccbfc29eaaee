"""Speech to text: audio files and recordings -> Transcript (segments, words, times)."""
