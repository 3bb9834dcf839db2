if header :is "subject" "Meeting on Friday" { discard; }
