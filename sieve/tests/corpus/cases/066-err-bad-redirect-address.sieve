# expect: compile error
redirect "not an address";
