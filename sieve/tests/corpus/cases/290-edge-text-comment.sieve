require "reject";
reject text: # why
No.
.
;
