require "vacation";
vacation text:
I am away until Monday.
..
Bob
.
;
