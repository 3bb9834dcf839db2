if allof (header :contains "subject" "meeting", exists "x-nothing") { discard; }
