if allof (header :contains "subject" "meeting", exists "cc") { discard; }
