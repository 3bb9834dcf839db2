if header :is "x-priority" "1" { redirect "urgent@example.org"; }
elsif header :is "x-priority" "3" { discard; }
else { keep; }
