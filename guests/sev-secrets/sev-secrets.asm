; sev-secrets - the smp-sev-es guest with secrets to look for (secrets.inc): before each AP Reset
; Hold every AP puts known values in R8-R11, and before its exit the BSP fills its registers, XMM
; registers, MXCSR, x87 control word, TSC_AUX and four private pages with others. Everything else,
; the output included, is smp-sev-es: see ../smp-sev-es/smp-sev-es.asm. The confidentiality scan in
; test/sev/hostile-hypervisor.test.ts runs it and searches everything the hypervisor can see.
;
; Run: hvemu run guests/sev-secrets/sev-secrets.img --sev-es --cpus 4
; Exit value 0 (status 1).

%define PLANT_SECRETS
%include "../smp-sev-es/smp-sev-es.asm"     ; found through the -i guests/lib/ include path
