# expect: compile error
if address :is "x-priority" "3" { discard; } else { keep; }
