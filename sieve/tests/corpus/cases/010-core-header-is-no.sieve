if header :is "subject" "Meeting" { discard; }
