; smp-sev-es-msr - the smp-sev-es guest with the other form of AP Reset Hold: each AP parks through
; the GHCB MSR protocol (request 0x006, response 0x007 whose bits 63:12 say whether INIT-SIPI-SIPI
; released it) instead of the GHCB event 0x80000004, and writes its GHCB's GPA back into the GHCB
; MSR once released (the response replaced it). Everything else, the output included except the
; name of the hold form, is smp-sev-es: see ../smp-sev-es/smp-sev-es.asm.
;
; Run: hvemu run guests/smp-sev-es-msr/smp-sev-es-msr.img --arch svm --sev-es --cpus 4
; Exit value 0 (status 1).

%define HOLD_MSR
%include "../smp-sev-es/smp-sev-es.asm"     ; found through the -i guests/lib/ include path
