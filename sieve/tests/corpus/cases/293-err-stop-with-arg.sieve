# expect: compile error
stop "now";
