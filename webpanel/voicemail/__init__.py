"""The help page's "Voicemail": the player (previous, play, pause, stop, next, download all,
save, delete, New and Saved counts, total length, "message left on") and the mailbox's greeting,
recorded in the browser (webpanel/static/voicemail.js) or uploaded, converted with ffmpeg."""
