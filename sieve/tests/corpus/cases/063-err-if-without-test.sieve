# expect: compile error
if { keep; }
