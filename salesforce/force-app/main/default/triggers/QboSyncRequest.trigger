// A new QBO Sync row (created by a Flow, a Process or Apex) asks for a sync of its record.
trigger QboSyncRequest on QBO_Sync__c(after insert) {
    QboSyncTriggerHandler.handleTrigger();
}
